"""Background workers of the server role (DESIGN §8): one BackgroundWorker subclass per job."""
