"""Operators that move data into Feishu: query results as a card table or a CSV file."""
