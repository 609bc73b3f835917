"""Safety for a child audience: input and output guards, kind redirections, redaction."""
