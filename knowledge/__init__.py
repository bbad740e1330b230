"""The knowledge base: documents (``knowledge/docs``), their ingestion into Chroma, and retrieval."""
