"""/insights: the brand's measures of a drop (docs/measures.md)."""
