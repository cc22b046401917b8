"""Where models go: the ``Cache`` protocol and the cache choices, the layout each loader reads,
stamps and inspections, cache roots, and each cache (tensorflow_hub's directory, kagglehub's, a
bucket) with the download cache."""
