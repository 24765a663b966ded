from tract_core import EDIT, SKIP


def test_round_trip(factory):
    t = factory.open()
    t.system("You are helpful.")
    user = t.user("How do I return shoes?")
    reply = t.assistant("60 days.")
    t.commit("It is 30 days.", operation=EDIT, response_to=reply.hash)
    t.annotate(user, SKIP)
    assert [m["content"] for m in t.compile().messages] == ["You are helpful.", "It is 30 days."]
