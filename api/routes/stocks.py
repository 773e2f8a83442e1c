"""/api routes: stocks (to be written)."""

from fastapi import APIRouter

router = APIRouter()
