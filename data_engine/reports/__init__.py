"""What people look at: plots (matplotlib's object API, no global backend) and static HTML reports."""
