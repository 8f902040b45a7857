"""The HTTP edge: app factory, views, request hardening, JWT authentication, access logs."""
