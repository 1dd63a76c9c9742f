"""Log records stored in public.logs."""
