"""The HTML report: findings generated from the tables, figures, tables and provenance."""
