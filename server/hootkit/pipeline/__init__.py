"""The streaming loop: endpointing, turn orchestration, clause splitting, paced audio out."""
