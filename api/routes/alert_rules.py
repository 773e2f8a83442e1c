"""/api routes: alert_rules (to be written)."""

from fastapi import APIRouter

router = APIRouter()
