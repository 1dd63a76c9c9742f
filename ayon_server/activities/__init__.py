"""Activities (comments and the like) on project entities, with their references and files."""
