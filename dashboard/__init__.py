"""The Plotly Dash dashboard, served by the API process on the same origin (`attach`)."""
