"""The ingest side: the worker that claims spooled messages and the pipeline that reads them."""
