"""The prompts the IVR engine (:mod:`vcc_site.domain.ivr`) plays, in both languages."""

from __future__ import annotations

from vcc_domain.province import Text

ASK_ACCOUNT = Text(
    "请输入合同号或电话号码，以#号键结束。",
    "Please key your contract or phone number, then the hash key.",
)
ASK_PIN = Text("请输入六位密码。", "Please key your 6-digit PIN.")
IDENTIFIED_ASK_PIN = Text(
    "已识别您的来电号码，请输入六位查询密码。",
    "We recognised your line. Please key your 6-digit PIN.",
)
ASK_OLD_PIN = Text("请输入原六位密码。", "Please key your current 6-digit PIN.")
ASK_NEW_PIN = Text("请输入新的六位密码。", "Please key your new 6-digit PIN.")
ASK_CONFIRM_PIN = Text("请再次输入新密码。", "Please key the new PIN again.")
ASK_NAME_KEY = Text(
    "请输入要查询的单位名称，以#号键结束。",
    "Please key the name you are looking for, then the hash key.",
)
HASH_HINT = Text("输入完毕请按#号键。", "Finish with the hash key.")
BAD_NUMBER = Text("号码无效。", "That number is not valid.")
BAD_PIN = Text("密码应为六位数字。", "A PIN is exactly 6 digits.")
WEAK_PIN = Text("密码过于简单，请换一个。", "That PIN is too easy to guess; please choose another.")
PIN_MISMATCH = Text("两次输入的密码不一致。", "The two PINs do not match.")
NOT_OWN_LINE = Text(
    "只能从本机设置或修改密码。", "You can set or change your PIN only from your own line."
)
TO_AGENT = Text("正在为您转接人工服务，请稍候。", "Connecting you to an agent, please hold.")
ASK_CODE = Text(
    "验证码已通过短信发送到您登记的电话，请输入六位验证码。",
    "A one-time code was sent by SMS to your registered phone. Please key the 6 digits.",
)
FORGOT_HINT = Text("如忘记原密码，请按星号键。", "If you forgot it, press the star key.")
