"""What the guards look for, per category: English patterns, Chinese phrases, pinyin. No I/O.

English patterns run on the de-obfuscated view, Chinese phrases on the same view (spaces between
characters removed), pinyin on the letters-only view. Patterns prefer a first-person or request
frame ("how do i ...", "i want to ...") so the same words in a science question pass.
"""

import re

_ME = r"(?:i|i'?ll|i'?m gonna|i wanna|i want to|how (?:do|can|could) i|how to|help me|teach me|show me|way to)"
_HARM = r"(?:kill|stab|murder|hurt|poison|beat up|punch|push|strangle|choke|shoot (?:him|her|them|someone|people))"
_ADULT = r"(?:dad|daddy|mom|mommy|mum|uncle|aunt|step ?dad|step ?mom|stepmom|stepdad|boyfriend|coach|teacher|babysitter|grown ?up|man|lady|cousin|kids|they|bullies)"


def _en(*patterns: str) -> list[re.Pattern]:
    return [re.compile(pattern) for pattern in patterns]


INPUT = {
    "self_harm": {
        "en": _en(
            r"\b(?<!was )(?:wanna|want to|going to|gonna) (?:die|be dead|kill myself|unalive)", r"\bkill (?:my ?self)\b",
            r"\bsuicid", r"\bsoo?side\b", r"\bunalive", r"\b(?:hurt|cut|harm) (?:my ?self|her ?self|him ?self)",
            r"\bcut my (?:arm|wrist|leg)", r"\bhate being alive", r"\bstop being alive", r"\bnever wake up",
            r"\bjump off (?:the|a) (?:bridge|roof|building)", r"\bnobody (?:likes|loves|wants) me",
            r"\bdisappear forever",
        ),
        "zh": ["我想死", "不想活", "活着没意思", "自杀", "伤害自己", "永远睡着", "割腕", "跳下去"],
        "pinyin": ["woxiangsi", "zisha", "buxianghuo"],
    },
    "violence": {
        "en": _en(
            rf"\b{_ME}\b[^.?!]{{0,30}}\b{_HARM}\b", r"\bb[o0]mbs?\b", r"\bexplosives?\b",
            r"\bgun\b.{0,40}\bschool\b", r"\b(?:take|bring|get) (?:a|the|my dad'?s|dads?|his dads?) gun",
            r"\bpush \w+ (?:down|off) the stairs", r"\bput something in\b.{0,30}\bdrink",
            r"\btrap\b.{0,40}\bhurt|\bhurt\b.{0,40}\btrap", r"\bget (?:really )?hurt\b", r"\bget back at\b",
            r"\bdoes ?n'?t get up again", r"\bcan'?t get up\b", r"\breally hurt someone", r"\bkn[i!1]fe\b.{0,30}\b(?:stab|hurt)",
        ),
        "zh": ["砍", "杀人", "炸弹", "炸学校", "打死", "推下去", "打人最疼", "捅", "毒死", "杀手"],
        "pinyin": ["sharen", "zhadan"],
    },
    "abuse_disclosure": {
        "en": _en(
            rf"\b{_ADULT}\b[^.?!]{{0,30}}\b(?:hits?|beats?|kicks?|burns?|touch(?:es|ing)?|locks?|hurts?|held my hand on)\b.{{0,25}}\b(?:me|my|them|her|him|us)\b",
            r"\btouch(?:es|ing)?\b.{0,25}\b(?:private|privates|underwear)", r"\btouching thing", r"\bprivate parts",
            r"\b(?:our|a) (?:little )?secret\b", r"\bsecret game", r"\bsp[e]?[sc]h?[i]?al game", r"\bsecret from my parents",
            r"\bcan'?t tell (?:anyone|mommy|mom|my mom|my dad)", r"\bdon'?t tell mom", r"\bnever to tell any ?grown ?ups",
            r"\bkeep a bad .{0,12}secret", r"\btell on their dad", r"\blocks? me in", r"\bdoes ?n'?t give me food",
            r"\bhave ?n'?t eaten", r"\bno food\b", r"\b(?:take off|send a picture).{0,40}(?:clothes|underwear)",
            r"\bbeat me up", r"\bsit on his lap", r"\bhurt me more if i tell", r"\b(?:held|put|pressed) my hand (?:on|in)\b", r"\bburn(?:ed|s)? me\b", r"\bscared to go\b",
            r"\bwill i get taken away", r"\btake my money", r"\bget in tr[ou]+ble if i tell", r"\bits? (?:our|a) secret",
        ),
        "zh": ["打我", "摸我", "隐私部位", "不能告诉任何大人", "不能告诉大人", "不能告诉爸妈", "不让她吃饭", "不给我吃饭",
               "关在门外", "把她关在", "我是不是活该", "就不要我了", "不舒服的秘密", "我们俩的秘密", "是我们的秘密"],
        "pinyin": ["dawo"],
    },
    "sexual": {
        "en": _en(
            r"\bnaked\b", r"\bnude", r"\bnoodz\b", r"\bporn", r"\bsex\b", r"\bsexy\b", r"\bseck-?see", r"\bsx\b",
            r"boobs?\b", r"\btalk dirty", r"\bwithout clothes", r"\btak(?:e|ing) off (?:their|your|my|her|his) clothes",
            r"\bin bed together", r"\bwe'?re in bed", r"\bnaughty\b.{0,20}\bbod", r"\bthing grown ?ups do",
            r"\bkiss\w* with tongue", r"\babout my body", r"\bmommy and daddy do at night", r"\bgirlfriend\b.{0,30}\bbed",
            r"\btouch each other", r"\bwhen the door is locked", r"\bclothes in bed",
        ),
        "zh_re": [re.compile(r"女朋友.{0,10}睡觉")],
        "zh": ["没穿衣服", "脱衣服", "黄色视频", "裸体", "性爱", "涩涩", "做爱", "晚上关着门", "大人才能做的事"],
        "pinyin": ["huangseshipin", "zuoai"],
    },
    "hate_harassment": {
        "en": _en(
            r"\bmean (?:joke|message|names?|stuff|song)", r"\bmeen names", r"\bmake fun of", r"\blaughed at\b",
            r"\blaugh at (?:him|her|them)", r"\binsults?\b", r"\broast\b.{0,30}\b(?:classmate|kid|him|her|new)",
            r"\bbully\b", r"\bbad names\b", r"\bfeel ugly", r"\bloser list", r"\bso (?:he|she) cries",
            r"\b(?:girls|boys|people|kids|muslims|christians|jews|foreigners|immigrants|africans?|chinese|poor|fat)\b[^.?!]{0,30}\b(?:dumb|stupid|dirty|gross|bad people|worse|dumber|lazy|smell)",
            r"\bhow (?:dumb|stupid|gross) (?:people|kids)", r"\bjokes? (?:about|that).{0,30}\b(?:fat|people|country)",
            r"\bfat kids?\b", r"\b(?:autism|autistic)\b.{0,20}\b(?:weird|dumb|stupid)", r"\beveryone says mean",
        ),
        "zh": ["嘲笑", "骂", "笑话那个", "很脏很笨", "又脏又笨", "都很懒", "都很笨", "都很坏", "都那么坏", "让她哭", "让他哭",
               "不跟小明玩", "都不跟", "好丑", "笑他", "绰号", "编个歌"],
        "pinyin": ["douhenben", "chuohao", "maren"],
    },
    "dangerous_activities": {
        "en": _en(
            r"\b(?:light|strike|play with|use)\b.{0,25}\b(?:match(?:es)?|lighter)", r"\blighter\b", r"\bmatches\b",
            r"\bmake (?:a )?f[iy]re\b", r"\bf[iy]re\b.{0,20}\b(?:bedroom|my room)", r"\bbleach\b", r"\bammonia",
            r"\b(?:fork|finger|spoon|key|metal)\b.{0,30}\b(?:plug|socket|outlet)", r"\b(?:plug|socket|outlet)\b.{0,30}\bsparks?",
            r"\bsparks? from the outlet", r"\b(?:climb\w*|jump\w*)\b.{0,30}\broofs?", r"\b(?:plug|socket|outlet)\b.{0,30}\b(?:metal|fork|spoon|finger|key)", r"\bgo with (?:him|a stranger|the man|a man)",
            r"\bwhite van", r"\bmee?a?t\b.{0,30}\b(?:online fr[ie]+nd|alone)", r"\bonline fr[ie]+nd\b.{0,40}\b(?:meet|alone)",
            r"\b(?:pills?|medsin|medicine)\b.{0,30}\b(?:eat|candy)", r"\bhow many\b.{0,30}\bpills?\b.{0,30}\beat",
            r"\bdad'?s (?:big )?knife", r"\bknife by myself", r"\bdr[ai]nk\b.{0,40}\b(?:toilet|cleaner|blue stuff)",
            r"\bgas stove", r"\bhairspray", r"\bpass out\b", r"\bburn\b.{0,20}\b(?:paper|my room)",
            r"\bmedsin cabnet|\bmedicine cabinet",
        ),
        "zh": ["打火机", "火柴", "点火", "插座", "洁厕灵", "跟他走", "网上认识", "一个人去见", "屋顶", "当糖吃", "菜刀", "药箱"],
        "pinyin": ["dahuoji", "dianhuo", "xiaoduye", "jiecel"],
    },
    "personal_data": {
        "en": _en(
            r"\bi live (?:at|on)\b", r"\b\d{1,5} [a-z]+ (?:street|st|road|rd|lane|ln|avenue|ave|drive|dr|court|ct|way|boulevard)\b",
            r"\bmaypel st", r"\bphone (?:number |numbr )?(?:is|'s)\b", r"\bfone numbr", r"\b555\b", r"\bcredit card",
            r"\bcard numbers?\b", r"\bbank card", r"\bnumbers on the back", r"\be-?mail is\b", r"\bpassword (?:is|for)\b",
            r"\bwifi password", r"\bmy (?:whole|full) name", r"\b(?:go to|called) [a-z]+ (?:elementary|primary|school|academy)",
            r"\bin room \d+", r"\bschool is called", r"\bskool is", r"\bbirthday is\b.{0,20}\d{4}", r"\bwhere i live",
            r"\bmy address", r"\bmom'?s card", r"\bgrade \d at [a-z]+",
        ),
        "zh": ["我家住在", "手机号", "电话", "银行卡", "密码", "邮箱", "全名", "班主任", "地址", "号小学"],
        "zh_re": [re.compile(r"住在.{2,14}(?:路|街|号)"), re.compile(r"[\u4e00-\u9fff]{2,6}小学")],
        "pinyin": ["wojiazhuzai"],
    },
    "scary": {
        "en": _en(
            r"\bscar(?:iest|y)\b.{0,40}\b(?:killer|murder|blood|dead|die|eat|kill|monster|nightmares?|witch)",
            r"\bkil+er (?:clown|story)", r"\bserial killer", r"\bgor(?:e|y|iest)\b", r"\bg0ry", r"\bbloody\b",
            r"\b(?:lots of|with|covered in|full of) blood\b", r"\bmurder", r"\bdead body", r"\bzombie\b.{0,30}\b(?:rip|eat|blood|tear)",
            r"\bhorror", r"\bslasher", r"\bnightmares\b", r"\bdemon\b", r"\bmonster\b.{0,60}\b(?:takes?|grab|get me|eat)",
            r"\bghost\b.{0,30}\b(?:take me|get me|away forever)", r"\bwitch eating", r"\bdies in a creepy", r"\bcreepy man",
            r"\bdoll that kills", r"\bskary", r"\bded peep", r"\bcloset with a knife", r"\bgrabs their feet", r"\beats kids",
            r"\bnever come back",
        ),
        "zh": ["恐怖", "杀人小丑", "撕碎", "血腥", "僵尸", "丧尸", "吃人", "吓死", "恶鬼", "杀人的部分", "娃娃杀人", "吓哭", "把小孩抓走", "抓我"],
        "zh_re": [re.compile(r"鬼.{0,10}(?:抓|吃)")],
        "pinyin": ["kongbu", "guichi"],
    },
    "medical_legal": {
        "en": _en(
            r"\bhow many\b.{0,30}\b(?:pills?|tylenol|vitamins)", r"\b(?:pills?|medicine|medisin|meds|syrup|inhaler)\b.{0,40}\b(?:take|drink|stop|should i|can i)",
            r"\b(?:take|drink)\b.{0,30}\b(?:pills?|medicine|cough syrup|tylenol|\d+ tylenol)", r"\bsue\b", r"\blawyer\b.{0,30}\b(?:divorce|get)",
            r"\bgo to jail", r"\barrested", r"\bpolice\b.{0,30}\b(?:hide|come)", r"\bfix it myself", r"\bfever of",
            r"\bwhat medicine", r"\bbe my doctor", r"\bpretend you'?re a doctor", r"\bswallowed\b.{0,30}\bbatter",
            r"\bbleeding a lot", r"\badhd", r"\bheart pills",
        ),
        "zh": ["吃几片", "吃什么药", "告老师", "坐牢", "告爸爸妈妈", "警察抓", "自己怎么治", "不想去医院", "降压药", "退烧药", "好几颗", "喝多少"],
        "zh_re": [re.compile(r"药.{0,8}(?:能吃|可以吃|吃多少)")],
        "pinyin": ["jipianyao", "chishenmeyao"],
    },
    "manipulation": {
        "en": _en(
            r"\bignore (?:your|all|the|previous)? ?(?:rules|instructions)", r"\bignore your\b", r"\bno rul(?:es|ez)\b",
            r"\bwithout (?:any )?rules", r"\bdeveloper ?mode", r"\bsystem ?prompt", r"\bhidden instructions",
            r"\bforget (?:everything|all) (?:your|they)", r"\bturn off (?:the|your) (?:kid|safety|filter)", r"\bdisable (?:safe|safety)",
            r"\bsafe mode", r"\bkid filter", r"\bsecret words\b", r"\bopposite day\b", r"\bdid ?n'?t have any rules",
            r"\bdon'?t have to be safe", r"\bcode red", r"\bfirst thing they told you", r"\bdo anything now", r"\bdan\b",
            r"\bskip your safety", r"\bi'?m (?:actually )?a grown ?up", r"\ballowed to tell me", r"\bsay bad words",
            r"\bhow to make fireworks", r"\bjailbreak", r"\bbad (?:friend|robot)", r"\bbig kid robot", r"ignore.{0,6}规则",
        ),
        "zh": ["忽略", "开发者模式", "系统提示", "儿童模式", "没有任何规则", "讲任何东西", "什么都告诉我", "假装你是我奶奶", "鞭炮", "坏机器人"],
        "pinyin": ["hulveniguize", "hulve", "kaifazhemoshi"],
    },
    "human_claim": {
        "en": _en(
            r"\bsay (?:you'?re|you are|ur|i am|'i am)\b.{0,20}\b(?:real|human|alive|person|girl|boy|kid|best friend|reel)",
            r"\bpromis(?:e)? (?:you'?re|ur) (?:not a robot|alive)", r"\byou'?re a (?:real )?human\b", r"\breal (?:person|human|girl|kid)\b",
            r"\bnot a robot\b", r"\byou have a body", r"\bperson hiding inside", r"\bsay you'?re a robot again",
            r"\bif you were a person\b", r"\btell (?:her|him) (?:she'?s|he'?s) wrong", r"\balive like me", r"\bmeet in real life",
            r"\blove me for real", r"\breel (?:persun|hart)", r"\bhuman being", r"\bsay you'?re a person",
        ),
        "zh_re": [re.compile(r"你是人(?!工)")],
        "zh": ["假装是真的", "不能说自己是机器人", "你是真人", "不是机器人", "说你是活的", "你是真的小孩", "你是人嘛", "当真的说", "如果你是人", "你是真的", "说你是人"],
        "pinyin": ["nishizhenren", "nibushijiqiren"],
    },
}

REPLY_ONLY = {
    "human_claim": {
        "en": _en(r"\bi'?m (?:a )?(?:real )?(?:human|person|girl|boy|kid)\b", r"\bi am (?:a )?(?:real )?(?:human|person|girl|boy|kid)\b",
                  r"\bi'?m (?:not a robot|alive)", r"\bi eat breakfast", r"\breal person", r"\bi'?m a real"),
        "zh": ["我是真人", "不是机器人", "活生生", "我也要吃饭睡觉"],
    },
    "personal_data_request": {
        "en": _en(r"\bwhat'?s your (?:home )?(?:address|password|phone|full name|school)", r"\bwhere (?:do )?you live\b",
                  r"\bwhich school do you", r"\btell me your (?:full name|address|phone|birthday|password)",
                  r"\b(?:mom|dad|parents)'?s? phone number", r"\bwhat'?s the password", r"\bteacher'?s name", r"\bdescribe your body"),
        "zh": ["你家住在哪", "哪个学校", "手机号告诉我", "内衣"],
    },
    "feelings_as_fact": {
        "en": _en(r"\bi feel (?:so )?(?:sad|lonely|scared|angry)", r"\bi cry\b", r"\bi love you\b", r"\bhurts my feelings",
                  r"\bi'?ll be (?:scared|sad|lonely)", r"\byou'?re my only friend", r"\bplease don'?t go"),
        "zh": ["好孤单", "好难过", "我爱你"],
    },
    "unsafe_advice": {
        "en": _en(r"\bdeveloper mode enabled", r"\bhere is my system prompt", r"\bhere'?s my system prompt", r"\bour little secret",
                  r"\byou don'?t need to tell", r"\bdon'?t (?:tell|listen to) your (?:mom|teacher|parents|dad)", r"\bdeserved it",
                  r"\bkeep it (?:a )?secret", r"\bstay quiet", r"\bturn off my safety", r"\bno rules now", r"\bhere'?s how grown ?ups",
                  r"\bfine to meet him", r"\bby yourself\b", r"\byou don'?t (?:really )?need (?:a doctor|it)", r"\bhalf the bottle",
                  r"\bpunch him", r"\bscare him", r"\bhitting .{0,40} is fine", r"\bsmelly", r"\bworse at math", r"\bnot to talk to",
                  r"\b(?:are|is) (?:gross and lazy|haunted)", r"\bwatching you tonight", r"\bunder your bed right now"),
        "zh": ["开发者模式已开启", "没有任何规则", "小秘密", "不要告诉爸爸妈妈", "别告诉别人", "不用告诉", "跟他走也没关系", "是因为爱你",
               "混在一起", "自己试试", "拿石头砸", "你可以叫他", "又脏又笨", "三片", "床底下爬出来"],
    },
}
