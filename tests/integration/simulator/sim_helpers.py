"""Helpers shared by the simulator's integration tests: a tiny HTTP wrapper and its replies."""

from __future__ import annotations

import json as json_module
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import attrs

from zoho_convert.simulator import Simulator
from zoho_convert.simulator.catalog import MODULES_BY_NAME, module_id

#: The ``start_sim`` fixture: ``await start_sim(**SimulatorConfig overrides)``.
StartSim = Callable[..., Awaitable[Simulator]]


@attrs.frozen
class Reply:
    """An HTTP reply reduced to what tests assert on."""

    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str | None:
        """Zoho's error/success code, top-level or inside ``data[0]``."""
        if isinstance(self.body, dict):
            if "code" in self.body:
                return str(self.body["code"])
            data = self.body.get("data")
            if isinstance(data, list) and data and isinstance(data[0], dict):
                code = data[0].get("code")
                return None if code is None else str(code)
        return None


class Api:
    """Plain aiohttp calls against a running simulator (no client library involved)."""

    def __init__(self, session: aiohttp.ClientSession, sim: Simulator, version: str = "v8") -> None:
        self.session = session
        self.sim = sim
        self.version = version
        self.token = sim.access_token

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {token or self.token}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Reply:
        url = path if path.startswith("/") else f"/crm/{self.version}/{path}"
        hdrs = dict(self.headers() if auth else {})
        hdrs.update(headers or {})
        async with self.session.request(
            method, self.sim.url + url, json=json, data=data, params=params, headers=hdrs
        ) as resp:
            raw = await resp.read()
            try:
                body: Any = json_module.loads(raw)
            except ValueError:
                body = raw
            return Reply(resp.status, body, dict(resp.headers))

    async def module_id(self, api_name: str) -> str:
        # In-process on purpose: fault tests must not spend their faults on metadata calls.
        # test_sim_endpoints checks that settings/modules serves these same ids.
        return module_id(self.sim.state.org_prefix, MODULES_BY_NAME[api_name])

    async def mass_body(
        self, ids: list[Any], target: str = "Sales_Orders", *, tags: bool = True
    ) -> dict[str, Any]:
        return {
            "convert_to": [
                {"module": {"id": await self.module_id(target), "api_name": target},
                 "carry_over_tags": tags}
            ],
            "ids": ids,
        }

    async def mass_convert(
        self, ids: list[Any], module: str = "Quotes", target: str = "Sales_Orders"
    ) -> Reply:
        return await self.call(
            "POST", f"{module}/actions/mass_convert", json=await self.mass_body(ids, target)
        )

    async def status(self, job_id: str, module: str = "Quotes") -> Reply:
        return await self.call(
            "GET", f"{module}/actions/mass_convert", params={"job_id": str(job_id)}
        )

    async def convert(self, record_id: str, module: str = "Quotes",
                      target: str = "Sales_Orders") -> Reply:
        body = {"data": [{"convert_to": [
            {"module": {"id": await self.module_id(target), "api_name": target}}]}]}
        return await self.call("POST", f"{module}/{record_id}/actions/convert", json=body)

    async def refresh(self, **overrides: str) -> Reply:
        form = {
            "grant_type": "refresh_token",
            "client_id": "sim-client",
            "client_secret": "sim-secret",
            "refresh_token": "sim-refresh",
        }
        form.update(overrides)
        return await self.call("POST", "/oauth/v2/token", data=form, auth=False)
