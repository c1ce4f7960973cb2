"""The production front: the reverse proxy configuration shipped with the desk."""
