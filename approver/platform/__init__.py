"""Where things live on this OS and how to check who is on the other end of a socket."""
