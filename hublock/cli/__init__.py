"""The ``hublock`` command: options in, reports out. The only wing that prints or exits."""
