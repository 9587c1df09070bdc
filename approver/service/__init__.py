"""The decision service: policy, (later) people, and the decision log, behind a same-user local socket."""
