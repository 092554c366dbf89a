"""SQL, one module per table (the dashboard's single query reads several and has its own)."""
