"""The Zarr episode store: writer, reader, validation, recovery, export."""
