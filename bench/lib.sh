# Shared by the bench scripts; sourced, not run.

# pjsip.conf sections for users user1..userN, password passK: an endpoint,
# an auth and an AOR each, made from the templates [phone](!), [secret](!)
# and [mailbox](!) that the caller writes first.
user_sections() { # users
  local i
  for i in $(seq 1 "$1"); do
    printf '\n[user%d](phone)\nauth = user%d\naors = user%d\n' "$i" "$i" "$i"
    printf '[user%d](secret)\nusername = user%d\npassword = pass%d\n' "$i" "$i" "$i"
    printf '[user%d](mailbox)\n' "$i"
  done
}

# The value of key in sipload's last line of key=value pairs.
kv() { # line key
  echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'
}
