"""RQ job functions: thin wrappers that call the same services as the views."""
