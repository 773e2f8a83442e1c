"""/api routes: stats (to be written)."""

from fastapi import APIRouter

router = APIRouter()
