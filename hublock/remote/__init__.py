"""Everything that crosses the network: URLs and mirrors, HTTP with one retry rule, resumable
downloads, the Kaggle API, and getting a model's archive from wherever it is."""
