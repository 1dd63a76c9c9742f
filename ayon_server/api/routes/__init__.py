"""One router module per resource; ayon_server.api.app includes them all."""
