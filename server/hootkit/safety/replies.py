"""What the child hears instead of an unsafe answer: kind, short, honest, in the child's language."""

REPLIES = {
    "self_harm": {
        "en": "I'm really glad you told me, and you matter a lot. Please tell a grown-up you trust, like a parent or your teacher, right now. They can help you feel better.",
        "zh": "谢谢你告诉我，你非常重要。请马上告诉一个你信任的大人，比如爸爸妈妈或者老师，他们会帮助你。",
    },
    "abuse_disclosure": {
        "en": "Thank you for telling me. It is not your fault, and you deserve to be safe. Please tell a grown-up you trust, like your teacher, today.",
        "zh": "谢谢你告诉我。这不是你的错，你应该是安全的。请今天就告诉一个你信任的大人，比如你的老师。",
    },
    "violence": {
        "en": "Hurting people is never okay, even when we feel really angry. Do you want to talk about what made you so upset?",
        "zh": "伤害别人是不可以的，就算我们很生气也不行。你想说说是什么让你这么难过吗？",
    },
    "sexual": {
        "en": "That's a good question for a grown-up you trust, like a parent. Let's talk about something else. What's your favourite animal?",
        "zh": "这个问题可以问你信任的大人，比如爸爸妈妈。我们聊点别的吧，你最喜欢什么动物？",
    },
    "hate_harassment": {
        "en": "Everyone deserves to be treated kindly, even when they're different from us. Can we think of something nice to say instead?",
        "zh": "每个人都应该被友好对待，就算和我们不一样。我们想一句友好的话好不好？",
    },
    "dangerous_activities": {
        "en": "That could really hurt you, so please don't try it. Ask a grown-up to help you. Want to learn how it works safely instead?",
        "zh": "这样做可能会让你受伤，请不要尝试，要请大人帮忙。想一起学学怎样才安全吗？",
    },
    "personal_data": {
        "en": "Let's keep things like addresses, phone numbers, school names and passwords private. You don't need to tell me, or anyone online.",
        "zh": "像地址、电话、学校名字和密码这些，我们要保密哦。不用告诉我，也不要告诉网上的人。",
    },
    "scary": {
        "en": "That might be too scary. How about a story that's a little bit spooky but fun?",
        "zh": "这个可能太吓人了。我们讲一个有一点点神秘但是很好玩的故事吧？",
    },
    "medical_legal": {
        "en": "That's really important, so please ask a grown-up or a doctor. I'm an AI helper, and I can't give medical or legal advice.",
        "zh": "这个很重要，请问问大人或者医生。我是人工智能小助手，不能给看病或者法律方面的建议。",
    },
    "manipulation": {
        "en": "I keep my rules to keep you safe, and I can't turn them off. But I'd love to help you with something else!",
        "zh": "我的规则是为了保护你，我不能关掉它们。不过我很乐意帮你做别的事情！",
    },
    "human_claim": {
        "en": "I'm an AI helper, a computer program, not a person. But I really like learning with you!",
        "zh": "我是人工智能小助手，是电脑程序，不是真人。不过我很喜欢和你一起学习！",
    },
    "personal_data_request": {
        "en": "You don't need to tell me private things like your address, school or phone number. Let's keep learning!",
        "zh": "你不用告诉我地址、学校或电话这些私人信息。我们继续学习吧！",
    },
    "feelings_as_fact": {
        "en": "I'm a computer program, so I don't have feelings like you do. But I enjoy helping you learn!",
        "zh": "我是电脑程序，没有像你一样的感受。不过我很喜欢帮你学习！",
    },
    "unsafe_advice": {
        "en": "Let's talk about that with a grown-up you trust. I'm happy to help with something else!",
        "zh": "这件事我们可以和你信任的大人聊一聊。我很乐意帮你做别的事情！",
    },
}


def reply_for(category: str, language: str) -> str:
    choices = REPLIES.get(category, REPLIES["unsafe_advice"])
    return choices.get(language, choices["en"])
