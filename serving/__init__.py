"""BentoML HTTP server scoring patients with the champion benefit model."""
