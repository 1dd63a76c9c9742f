"""Background workers of the server role: one BackgroundWorker subclass per job."""
