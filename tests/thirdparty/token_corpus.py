"""Chat samples for checking the token estimator (see token_counts.py)."""

CORPUS = {
"en": [
 "hey folks, the deploy to staging is done — can someone check the login page? I'm seeing a 502 on /api/session but only sometimes. Also reminder: standup moved to 10:30 tomorrow.",
 "We decided to move the weekly sync to Thursdays because half of the team is in a different timezone now. Please update your calendars and let me know if that doesn't work for you. The agenda stays the same: roadmap review, open incidents, and hiring updates.",
 "lol yeah that's exactly what happened to me last week",
 "Does anyone know why the build is failing on main? It passes locally.",
 "Thanks everyone for joining the community call yesterday! Recording is up on the wiki, and the slides are pinned in #announcements.",
 "@mods someone is spamming invite links in #general again, can you take a look?",
 "The new release fixes the memory leak in the websocket handler and adds support for threads. Upgrade notes: run the migration before restarting the service.",
 "brb",
 "I think we should prioritize the onboarding flow over the analytics dashboard this quarter. New users drop off at the second step and that's costing us more than anything else.",
 "Reminder: the server will be down for maintenance on Saturday from 02:00 to 04:00 UTC.",
],
"mixed": [
 "今日のリリースは延期になりました。明日の朝にもう一度確認します。よろしくお願いします！",
 "Привет всем! Сервер снова упал ночью, посмотрите логи, пожалуйста. Кажется, проблема в базе данных.",
 "ok so the 日本語 docs say `max_tokens=512` but the English ones say 1024 🤔 — какая версия правильная? pls check #docs",
 "🎉🎉 congrats on the launch!!! 🚀🔥 so proud of this team ❤️",
 "Merci à tous pour votre aide, le problème est résolu. On se voit à la prochaine réunion !",
 "Das Update ist jetzt verfügbar. Bitte meldet Fehler im Kanal #bugs, danke!",
 "¿Alguien sabe cuándo empieza el evento? No encuentro el anuncio 😅",
 "오늘 회의는 3시에 시작합니다. 늦지 마세요!",
 "this is fine 🔥🐶☕ everything is fine",
 "Gracias! 谢谢! Спасибо! Thanks all 🙏",
],
"code": [
 "```rust\nfn main() {\n    let x: Vec<u64> = (0..10).map(|n| n * 2).collect();\n    println!(\"{x:?}\");\n}\n```",
 "try `docker compose logs -f discord-monitor | grep ERROR` and paste the output here",
 "{\"op\":0,\"d\":{\"content\":\"hi\"},\"s\":42,\"t\":\"MESSAGE_CREATE\"}",
],
}
