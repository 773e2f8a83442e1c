from api.main import main
from api.settings import ApiSettings

main(ApiSettings())
