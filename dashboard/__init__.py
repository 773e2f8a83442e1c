"""The Plotly Dash dashboard, served by the API process (to come: see the dashboard issue)."""
