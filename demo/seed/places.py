"""Where the demo customers live: countries with their language, currency, VAT rate, phone numbers, cities and streets.

Postal-code templates use `#` for a digit and `@` for a letter; each city gets a few codes expanded from its template.
Phone numbers use ranges reserved for fiction where a country has one (US 555-01xx, UK 07700 900xxx).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    locale: str
    weight: int  # share of customers, relative
    currency: str
    vat_percent: int  # added on invoices; 0 where prices are shown without sales tax
    phone_prefixes: tuple[str, ...]
    phone_digits: int  # random digits after the prefix
    cities: tuple[tuple[str, str], ...]  # (city, postal-code template)


COUNTRIES: tuple[Country, ...] = (
    Country("US", "en_US", 24, "USD", 0, ("+1 212 555 01", "+1 415 555 01", "+1 312 555 01", "+1 512 555 01"), 2, (
        ("New York", "100##"), ("San Francisco", "941##"), ("Chicago", "606##"), ("Austin", "787##"),
        ("Seattle", "981##"), ("Boston", "021##"), ("Denver", "802##"), ("Atlanta", "303##"))),
    Country("CA", "en_US", 4, "USD", 0, ("+1 416 555 01", "+1 604 555 01"), 2, (
        ("Toronto", "M5V #@#"), ("Vancouver", "V6B #@#"), ("Montreal", "H2X #@#"), ("Calgary", "T2P #@#"))),
    Country("GB", "en_GB", 10, "GBP", 20, ("+44 7700 900",), 3, (
        ("London", "SW1A #@@"), ("Manchester", "M1 #@@"), ("Bristol", "BS1 #@@"), ("Leeds", "LS1 #@@"),
        ("Edinburgh", "EH1 #@@"), ("Cardiff", "CF10 #@@"))),
    Country("AU", "en_GB", 3, "USD", 0, ("+61 4", "+61 4"), 8, (
        ("Sydney", "20##"), ("Melbourne", "30##"), ("Brisbane", "40##"), ("Perth", "60##"))),
    Country("DE", "de_DE", 9, "EUR", 19, ("+49 151 ", "+49 160 ", "+49 176 "), 8, (
        ("Berlin", "10###"), ("Hamburg", "20###"), ("München", "80###"), ("Köln", "50###"),
        ("Frankfurt am Main", "60###"), ("Leipzig", "04###"))),
    Country("AT", "de_DE", 2, "EUR", 20, ("+43 664 ",), 7, (
        ("Wien", "1###"), ("Graz", "80##"), ("Linz", "40##"), ("Salzburg", "50##"))),
    Country("FR", "fr_FR", 8, "EUR", 20, ("+33 6 ", "+33 7 "), 8, (
        ("Paris", "750##"), ("Lyon", "6900#"), ("Marseille", "130##"), ("Toulouse", "310##"),
        ("Bordeaux", "330##"), ("Lille", "590##"))),
    Country("ES", "es_ES", 6, "EUR", 21, ("+34 6", "+34 7"), 8, (
        ("Madrid", "280##"), ("Barcelona", "080##"), ("Valencia", "460##"), ("Sevilla", "410##"),
        ("Bilbao", "480##"), ("Málaga", "290##"))),
    Country("MX", "es_ES", 3, "USD", 0, ("+52 55 ", "+52 33 "), 8, (
        ("Ciudad de México", "06###"), ("Guadalajara", "44###"), ("Monterrey", "64###"))),
    Country("IT", "it_IT", 6, "EUR", 22, ("+39 3",), 9, (
        ("Roma", "001##"), ("Milano", "201##"), ("Napoli", "801##"), ("Torino", "101##"),
        ("Bologna", "401##"), ("Firenze", "501##"))),
    Country("NL", "nl_NL", 4, "EUR", 21, ("+31 6 ",), 8, (
        ("Amsterdam", "10## @@"), ("Rotterdam", "30## @@"), ("Utrecht", "35## @@"), ("Den Haag", "25## @@"),
        ("Eindhoven", "56## @@"))),
    Country("BR", "pt_BR", 7, "USD", 0, ("+55 11 9", "+55 21 9"), 8, (
        ("São Paulo", "01###-###"), ("Rio de Janeiro", "20###-###"), ("Belo Horizonte", "30###-###"),
        ("Curitiba", "80###-###"), ("Porto Alegre", "90###-###"))),
    Country("JP", "ja_JP", 6, "USD", 0, ("+81 90 ", "+81 80 "), 8, (
        ("Tokyo", "1##-####"), ("Osaka", "53#-####"), ("Yokohama", "22#-####"), ("Nagoya", "45#-####"),
        ("Sapporo", "06#-####"), ("Fukuoka", "81#-####"))),
    Country("PL", "pl_PL", 5, "EUR", 23, ("+48 5", "+48 6"), 8, (
        ("Warszawa", "00-###"), ("Kraków", "30-###"), ("Wrocław", "50-###"), ("Gdańsk", "80-###"),
        ("Poznań", "60-###"))),
    Country("SE", "sv_SE", 3, "EUR", 25, ("+46 70 ", "+46 73 "), 7, (
        ("Stockholm", "11# ##"), ("Göteborg", "41# ##"), ("Malmö", "21# ##"), ("Uppsala", "75# ##"))),
)


@dataclass(frozen=True)
class Locale:
    email_domains: tuple[str, ...]
    streets: tuple[str, ...]
    number_first: bool  # "12 Main Street" rather than "Hauptstraße 12"
    unit_prefix: str  # second address line, e.g. "Apt 4"


LOCALES: dict[str, Locale] = {
    "en_US": Locale(("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "aol.com", "hotmail.com"),
                    ("Main Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Park Avenue", "Washington Street",
                     "Lake Shore Drive", "Sunset Boulevard", "Elm Street", "Pine Road"), True, "Apt "),
    "en_GB": Locale(("gmail.com", "btinternet.com", "outlook.com", "hotmail.co.uk", "sky.com", "icloud.com"),
                    ("High Street", "Church Lane", "Station Road", "Victoria Road", "Mill Lane", "Kings Road",
                     "Queen Street", "Park Road", "The Crescent", "Manor Way"), True, "Flat "),
    "de_DE": Locale(("gmail.com", "web.de", "gmx.de", "t-online.de", "outlook.de", "posteo.de"),
                    ("Hauptstraße", "Bahnhofstraße", "Gartenstraße", "Schillerstraße", "Goethestraße",
                     "Lindenallee", "Bergstraße", "Kirchweg", "Am Markt", "Ringstraße"), False, "Whg. "),
    "fr_FR": Locale(("gmail.com", "orange.fr", "free.fr", "laposte.net", "sfr.fr", "outlook.fr"),
                    ("rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Voltaire",
                     "rue de la République", "place de l'Église", "rue des Écoles", "chemin des Vignes",
                     "rue Pasteur", "allée des Tilleuls"), True, "Appt "),
    "es_ES": Locale(("gmail.com", "hotmail.es", "yahoo.es", "outlook.es", "telefonica.net"),
                    ("Calle Mayor", "Avenida de la Constitución", "Calle Real", "Paseo de Gracia", "Calle del Sol",
                     "Plaza de España", "Calle Nueva", "Avenida del Mar", "Calle San Juan", "Camino Viejo"),
                    False, "Piso "),
    "it_IT": Locale(("gmail.com", "libero.it", "virgilio.it", "alice.it", "tiscali.it", "outlook.it"),
                    ("Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante Alighieri", "Via Mazzini",
                     "Piazza della Repubblica", "Via Verdi", "Viale dei Mille", "Via Cavour", "Via del Corso"),
                    False, "Int. "),
    "nl_NL": Locale(("gmail.com", "ziggo.nl", "kpnmail.nl", "hotmail.nl", "outlook.com", "xs4all.nl"),
                    ("Kerkstraat", "Dorpsstraat", "Molenweg", "Stationsweg", "Schoolstraat", "Prinsengracht",
                     "Nieuwstraat", "Julianalaan", "Beukenlaan", "Marktplein"), False, "bus "),
    "pt_BR": Locale(("gmail.com", "uol.com.br", "bol.com.br", "hotmail.com", "terra.com.br", "yahoo.com.br"),
                    ("Rua Augusta", "Avenida Paulista", "Rua das Flores", "Rua XV de Novembro",
                     "Avenida Atlântica", "Rua da Consolação", "Rua São Bento", "Avenida Brasil",
                     "Rua Oscar Freire", "Rua do Comércio"), False, "Apto "),
    "ja_JP": Locale(("gmail.com", "yahoo.co.jp", "docomo.ne.jp", "icloud.com", "outlook.jp"),
                    ("Jingumae", "Shinjuku", "Umeda", "Sakae", "Tenjin", "Minatomirai", "Ginza", "Namba",
                     "Odori", "Ebisu"), True, "Room "),
    "pl_PL": Locale(("gmail.com", "wp.pl", "onet.pl", "interia.pl", "o2.pl"),
                    ("ul. Marszałkowska", "ul. Długa", "ul. Polna", "ul. Lipowa", "ul. Ogrodowa", "ul. Kościuszki",
                     "ul. Mickiewicza", "ul. Słoneczna", "ul. Szkolna", "ul. Leśna"), False, "m. "),
    "sv_SE": Locale(("gmail.com", "telia.com", "hotmail.se", "outlook.com", "bredband.net"),
                    ("Storgatan", "Drottninggatan", "Kungsgatan", "Skolgatan", "Kyrkogatan", "Järnvägsgatan",
                     "Östra Långgatan", "Sveavägen", "Björkvägen", "Parkvägen"), False, "lgh "),
}
