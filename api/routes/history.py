"""/api routes: history (to be written)."""

from fastapi import APIRouter

router = APIRouter()
