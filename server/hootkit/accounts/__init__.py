"""People who use the dashboard: argon2 passwords, browser logins with CSRF, roles and what each may see."""
