"""/api routes: export (to be written)."""

from fastapi import APIRouter

router = APIRouter()
