"""discord.py against discord-sim: proof that a real third-party client connects, identifies
and receives the simulated traffic. Used by tests/thirdparty.rs, which runs it in the tests'
Python environment (made on first use under target/test-venv by the test-python crate, with a
pinned discord.py); also runnable by hand, from the workspace root, against the `discord-sim`
binary:

    target/test-venv/bin/python crates/discord-sim/tests/thirdparty/discordpy_client.py REST_BASE_URL TOKEN EXPECTED_MESSAGES TIMEOUT_SECS

It points discord.py's REST base at the sim (the gateway URL then comes from the sim's
GET /gateway/bot, as AutoShardedClient asks for it), requests zlib-stream compression,
identifies with the MESSAGE_CONTENT intent, and prints one JSON object on stdout with what it
received. Exit codes: 0 done (the JSON says how many messages arrived), 3 discord.py missing.
"""

import asyncio
import json
import sys
import zlib

try:
    import discord
    import discord.gateway
    import discord.http
    import discord.utils
    import yarl
except ImportError as err:  # pragma: no cover - reported to the Rust test
    print(
        f"discord.py is not installed ({err}): run this with target/test-venv/bin/python",
        file=sys.stderr,
    )
    sys.exit(3)


class ZlibStreamContext:
    """discord.py's own zlib-stream context, used even when the zstandard module would make
    discord.py ask for zstd-stream (which the sim, like many Discord proxies, does not speak)."""

    COMPRESSION_TYPE = "zlib-stream"

    def __init__(self):
        self.context = zlib.decompressobj()
        self.buffer = bytearray()

    def decompress(self, data):
        self.buffer.extend(data)
        if len(data) < 4 or data[-4:] != b"\x00\x00\xff\xff":
            return None
        message = self.context.decompress(self.buffer)
        self.buffer = bytearray()
        return message.decode("utf-8")


def main():
    rest_base, token, expected, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    discord.http.Route.BASE = rest_base
    discord.utils._ActiveDecompressionContext = ZlibStreamContext
    # Where discord.py goes after an op 9 d=false: the sim too, never the real Discord.
    gateway = asyncio.run(gateway_url(rest_base, token))
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway + "/")

    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.AutoShardedClient(intents=intents)
    report = {
        "discord_py_version": discord.__version__,
        "ready": False,
        "user_id": None,
        "guilds": [],
        "messages": {},
        "edits": [],
        "deletes": [],
        "resumed": 0,
    }

    @client.event
    async def on_ready():
        report["ready"] = True
        report["user_id"] = str(client.user.id)
        report["guilds"] = [
            {"id": str(g.id), "name": g.name, "channels": len(g.channels), "threads": len(g.threads)}
            for g in client.guilds
        ]

    @client.event
    async def on_shard_resumed(shard_id):
        report["resumed"] += 1

    @client.event
    async def on_message(message):
        report["messages"][str(message.id)] = {
            "channel_id": str(message.channel.id),
            "guild_id": str(message.guild.id) if message.guild else None,
            "author_id": str(message.author.id),
            "content": message.content,
            "attachments": len(message.attachments),
            "reply_to": str(message.reference.message_id) if message.reference else None,
        }
        if len(report["messages"]) >= expected:
            await client.close()

    @client.event
    async def on_raw_message_edit(payload):
        report["edits"].append(str(payload.message_id))

    @client.event
    async def on_raw_message_delete(payload):
        report["deletes"].append(str(payload.message_id))

    async def run():
        async with client:
            try:
                await asyncio.wait_for(client.start(token), timeout)
            except asyncio.TimeoutError:
                pass

    asyncio.run(run())
    print(json.dumps(report))


async def gateway_url(rest_base, token):
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        _, url, _ = await http.get_bot_gateway()
        return url
    finally:
        await http.close()


if __name__ == "__main__":
    main()
