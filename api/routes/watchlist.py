"""/api routes: watchlist (to be written)."""

from fastapi import APIRouter

router = APIRouter()
