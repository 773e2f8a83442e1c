from notify.app import main
from notify.settings import NotifySettings

main(NotifySettings())
