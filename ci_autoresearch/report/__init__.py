"""What a person reads: terminal tables, Markdown, charts, history views."""
