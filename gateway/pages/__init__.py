"""Server-rendered pages for people in a browser: accounts, the Oura connection, export and
charts. The JSON API under /api keeps bearer tokens; these pages use a session cookie."""

from fastapi import APIRouter

from gateway.pages import account, connection, mydata

router = APIRouter(include_in_schema=False)
for _module in (account, connection, mydata):
    router.include_router(_module.router)
