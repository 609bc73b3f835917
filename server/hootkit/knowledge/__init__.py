"""A children's knowledge base: short facts a teacher can read, retrieved per question to ground replies."""
