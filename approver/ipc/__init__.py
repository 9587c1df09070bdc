"""The versioned local protocol between proxies and the decision service."""
