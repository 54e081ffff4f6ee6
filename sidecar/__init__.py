"""sidecar: an observability and reliability sidecar for a product's backend."""

__version__ = "0.1.0"
