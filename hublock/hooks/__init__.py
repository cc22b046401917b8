"""Load time: ``activate()``, a resolver for each loader (tensorflow_hub, kagglehub), the guard
they ask, and the sitecustomize ``hublock run`` puts on PYTHONPATH. The only wing that imports
the loaders."""
