"""The extract contract: the sources as declared once (registry) and the ID numbers they carry."""
