"""``tokcount serve``: the hosted counting endpoints over HTTP (``app``) and their Prometheus metrics."""
