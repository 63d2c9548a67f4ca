"""Network recognisers: one table of realistic click and landing URLs (synthetic ids)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor.networks import table as networks
from monitor.networks.table import (
    DECODERS,
    NETWORK_NAMES,
    PATTERNS,
    TABLE_PATH,
    NetworkTableError,
    canonical_network,
    compile_table,
    load_table,
    parse_table,
    recognise,
    recognise_chain,
)

B = "https%3A%2F%2Fwww.lumora.com%2Fsale"
LANDING = "https://www.lumora.com/sale"

# (url, network, expected fields); fields not named must be None.
CASES: list[tuple[str, str, dict[str, object]]] = [
    (f"https://prf.hn/click/camref:1100l5xYz/pubref:kw1/destination:{B}", "partnerize",
     {"publisher_id": "1100l5xYz", "sub_id": "kw1", "landing_url": LANDING}),
    (f"https://lumora.prf.hn/click/camref:1101lAbC/creativeref:1011l77/destination:{B}",
     "partnerize", {"publisher_id": "1101lAbC", "creative_id": "1011l77", "landing_url": LANDING}),
    ("https://prf.hn/click/camref:1100l5xYz", "partnerize", {"publisher_id": "1100l5xYz"}),
    (f"https://www.tkqlhce.com/click-7012345-10987654?sid=k1&url={B}", "cj",
     {"publisher_id": "7012345", "creative_id": "10987654", "sub_id": "k1",
      "landing_url": LANDING}),
    ("https://www.anrdoezrs.net/click-7012345-13456789", "cj",
     {"publisher_id": "7012345", "creative_id": "13456789"}),
    ("https://www.jdoqocy.com/click-1234567-11111111?url=https%3A%2F%2Fbrand.com", "cj",
     {"publisher_id": "1234567", "creative_id": "11111111", "landing_url": "https://brand.com"}),
    ("https://www.dpbolvw.net/click-7654321-22222222?sid=x", "cj",
     {"publisher_id": "7654321", "creative_id": "22222222", "sub_id": "x"}),
    ("https://www.kqzyfj.com/links/7012345/type/dlg/sid/kw9/https://www.lumora.com/sale", "cj",
     {"publisher_id": "7012345", "sub_id": "kw9", "landing_url": LANDING}),
    (f"https://www.lumora.com/sale?cjevent={'a' * 32}", "cj", {"click_id": "a" * 32}),
    (f"https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345&clickref=g1&ued={B}",
     "awin", {"publisher_id": "412345", "advertiser_id": "1001", "sub_id": "g1",
              "landing_url": LANDING}),
    ("https://www.awin1.com/awclick.php?mid=1001&id=412345", "awin",
     {"publisher_id": "412345", "advertiser_id": "1001"}),
    ("https://www.awin1.com/cread.php?s=2222&v=1001&q=3333&r=412345", "awin",
     {"publisher_id": "412345", "advertiser_id": "1001", "creative_id": "2222"}),
    ("https://www.lumora.com/?awc=1001_1403695822_a430bc", "awin",
     {"advertiser_id": "1001", "click_id": "1001_1403695822_a430bc"}),
    ("https://shareasale.com/r.cfm?b=617326&u=123456&m=47&urllink=www.lumora.com%2Fsale"
     "&afftrack=kw", "shareasale",
     {"publisher_id": "123456", "advertiser_id": "47", "creative_id": "617326", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.lumora.com/?sscid=41k7_n2lff", "shareasale", {"click_id": "41k7_n2lff"}),
    (f"https://lumora.sjv.io/c/2210987/654321/4321?subId1=kw&u={B}", "impact",
     {"publisher_id": "2210987", "creative_id": "654321", "advertiser_id": "4321",
      "sub_id": "kw", "landing_url": LANDING}),
    ("https://goto.lumora.com/c/3345678/111111/4321", "impact",
     {"publisher_id": "3345678", "creative_id": "111111", "advertiser_id": "4321"}),
    ("https://lumora.pxf.io/c/3345678/222222/4321?sharedid=x", "impact",
     {"publisher_id": "3345678", "creative_id": "222222", "advertiser_id": "4321"}),
    ("https://www.lumora.com/?irclickid=Wx3abc%3A1&irgwc=1", "impact", {"click_id": "Wx3abc:1"}),
    (f"https://click.linksynergy.com/deeplink?id=AbCdEfGh1Jk&mid=2417&murl={B}&u1=kw",
     "rakuten", {"publisher_id": "AbCdEfGh1Jk", "advertiser_id": "2417", "sub_id": "kw",
                 "landing_url": LANDING}),
    ("https://click.linksynergy.com/fs-bin/click?id=AbCdEfGh1Jk&offerid=2417.100&type=3",
     "rakuten", {"publisher_id": "AbCdEfGh1Jk", "advertiser_id": "2417", "creative_id": "100"}),
    ("https://www.lumora.com/?ranMID=2417&ranEAID=AbC*dEfGhIj&ranSiteID=AbC.dEfGhIj-xYz12",
     "rakuten", {"publisher_id": "AbC*dEfGhIj", "advertiser_id": "2417",
                 "click_id": "AbC.dEfGhIj-xYz12"}),
    (f"https://clk.tradedoubler.com/click?p=123&a=654321&g=999&epi=kw&url={B}", "tradedoubler",
     {"publisher_id": "654321", "advertiser_id": "123", "creative_id": "999", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.lumora.com/?tduid=0c1d2e3f4a5b", "tradedoubler", {"click_id": "0c1d2e3f4a5b"}),
    (f"https://ad.admitad.com/g/9a03752bb275478cca00463f97455a/?subid=kw&ulp={B}", "admitad",
     {"publisher_id": "9a03752bb275478cca00463f97455a", "sub_id": "kw", "landing_url": LANDING}),
    ("https://ad.admitad.com/goto/9a03752bb275478cca00463f97455a/", "admitad",
     {"publisher_id": "9a03752bb275478cca00463f97455a"}),
    ("https://www.lumora.co.id/?admitad_uid=abc123", "admitad", {"click_id": "abc123"}),
    (f"https://go.skimresources.com/?id=123456X1234567&xs=1&url={B}&xcust=kw", "skimlinks",
     {"publisher_id": "123456", "creative_id": "1234567", "sub_id": "kw",
      "landing_url": LANDING}),
    (f"https://go.redirectingat.com/?id=98765X111&url={B}", "skimlinks",
     {"publisher_id": "98765", "creative_id": "111", "landing_url": LANDING}),
    (f"https://redirect.viglink.com/?key=0123abcd&u={B}&cuid=kw", "sovrn",
     {"publisher_id": "0123abcd", "sub_id": "kw", "landing_url": LANDING}),
    (f"https://www.pntra.com/t/8-12345-678901-234567?sid=kw&url={B}", "pepperjam",
     {"advertiser_id": "12345", "publisher_id": "678901", "creative_id": "234567",
      "sub_id": "kw", "landing_url": LANDING}),
    ("https://www.gopjn.com/t/MBFGHIJBKLMNEFBGHIJKL", "pepperjam",
     {"advertiser_id": "12345", "publisher_id": "678901", "creative_id": "234567"}),
    ("https://www.lumora.com/?clickId=3999999999&source=pepperjam", "pepperjam",
     {"click_id": "3999999999"}),
    (f"https://track.webgains.com/click.html?wgcampaignid=1234567&wgprogramid=271234"
     f"&clickref=kw&wgtarget={B}", "webgains",
     {"publisher_id": "1234567", "advertiser_id": "271234", "sub_id": "kw",
      "landing_url": LANDING}),
    (f"https://track.flexlinkspro.com/a.ashx?foid=1188831.1707657&foc=1&fot=9999&fos=1"
     f"&fobs=kw&url={B}", "flexoffers",
     {"publisher_id": "1188831", "advertiser_id": "1707657", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.amazon.com/dp/B0ABCDEF12?tag=sleepdeals-20&ascsubtag=kw", "amazon",
     {"publisher_id": "sleepdeals-20", "sub_id": "kw"}),
    ("https://www.amazon.co.uk/dp/B0ABCDEF12?tag=sleepuk-21", "amazon",
     {"publisher_id": "sleepuk-21"}),
    ("https://www.ebay.com.au/itm/123?mkevt=1&mkcid=1&mkrid=705-53470-19255-0"
     "&campid=5338000000&toolid=10001&customid=kw", "ebay",
     {"publisher_id": "5338000000", "advertiser_id": "705-53470-19255-0", "sub_id": "kw"}),
    (f"https://rover.ebay.com/rover/1/711-53200-19255-0/1?campid=5338111111&mpre={B}", "ebay",
     {"publisher_id": "5338111111", "advertiser_id": "711-53200-19255-0",
      "landing_url": LANDING}),
    ("https://trk.example-net.com/28KL6/2CTPL/?sub1=kw", "everflow",
     {"publisher_id": "28KL6", "advertiser_id": "2CTPL", "sub_id": "kw"}),
    ("https://www.lumora.com/?_ef_transaction_id=abc123&oid=1&affid=7", "everflow",
     {"click_id": "abc123", "advertiser_id": "1", "publisher_id": "7"}),
    ("https://lumora.go2cloud.org/aff_c?offer_id=45&aff_id=1075&aff_sub=kw", "tune",
     {"publisher_id": "1075", "advertiser_id": "45", "sub_id": "kw"}),
    ("https://www.lumora.com/?transaction_id=102abc&aff_id=1075", "tune",
     {"click_id": "102abc", "publisher_id": "1075"}),
    ("https://www.lumora.com/?rfsn=1234567.a1b2c3", "refersion",
     {"publisher_id": "1234567", "click_id": "a1b2c3"}),
    ("https://lumora.grsm.io/partnerabc?sid=kw", "partnerstack",
     {"publisher_id": "partnerabc", "sub_id": "kw"}),
    ("https://www.lumora.com/?gspk=cGFydG5lcmFiYw&gsxid=Xyz123", "partnerstack",
     {"publisher_id": "partnerabc", "click_id": "Xyz123"}),
    (f"https://www.avantlink.com/click.php?tt=cl&mi=11707&pw=9649&ctc=kw&url={B}", "avantlink",
     {"publisher_id": "9649", "advertiser_id": "11707", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.lumora.com/?avad=192617_f24ceb9c5", "avantlink",
     {"click_id": "192617_f24ceb9c5"}),
    ("https://t.cfjump.com/12345/t/67890?Url=https%3a%2f%2fwww.lumora.com%2fsale&UniqueId=kw",
     "commissionfactory",
     {"publisher_id": "12345", "advertiser_id": "67890", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://t.cfjump.com/12345/b/555", "commissionfactory",
     {"publisher_id": "12345", "creative_id": "555"}),
    ("https://www.lumora.com/?tap_a=1234-abc123&tap_s=567890-def456", "tapfiliate",
     {"publisher_id": "1234-abc123", "sub_id": "567890-def456"}),
    ("https://aff.lumora.com/scripts/click.php?a_aid=refid&a_bid=73d672s1&data1=kw",
     "postaffiliatepro", {"publisher_id": "refid", "creative_id": "73d672s1", "sub_id": "kw"}),
    ("https://www.lumora.com/?a_aid=refid", "postaffiliatepro", {"publisher_id": "refid"}),
    (f"https://r.bttn.io?btn_ref=org-0000000000000000&btn_url={B}&btn_pub_ref=kw", "button",
     {"publisher_id": "org-0000000000000000", "sub_id": "kw", "landing_url": LANDING}),
    ("https://www.lumora.com/?btn_ref=srctok-abc123", "button", {"click_id": "srctok-abc123"}),
    ("https://www.lumora.com/?clickref=1100lqwerty", "partnerize", {"click_id": "1100lqwerty"}),
]

B2 = "https%253A%252F%252Fwww.lumora.com%252Fsale"  # encoded twice
HEX32 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AWIN_INNER = ("https://www.awin1.com/cread.php?awinmid=1001&awinaffid=99999"
              "&ued=https%3A%2F%2Fwww.lumora.com%2Fsale")
CJ_INNER = "https://www.tkqlhce.com/click-7012345-10987654?url=https%3A%2F%2Fwww.lumora.com"
RAKUTEN_INNER = ("https://click.linksynergy.com/deeplink?id=AbCdEfGh1Jk&mid=2417"
                 "&murl=https%3A%2F%2Fwww.lumora.com%2Fsale")

# More shapes per network: other click domains, encodings, case, fragments, nested wrappers.
CASES += [
    # Partnerize: ar: segment, plain http and upper-case host, destination encoded twice.
    (f"http://PRF.HN/click/camref:1100l9QwE/pubref:brand_kw/ar:ad123/destination:{B}",
     "partnerize", {"publisher_id": "1100l9QwE", "sub_id": "brand_kw", "landing_url": LANDING}),
    (f"https://lumora.prf.hn/click/camref:1101lAbC/destination:{B2}", "partnerize",
     {"publisher_id": "1101lAbC", "landing_url": LANDING}),
    ("https://m.lumora.com/sale?clickref=1011lrTyU9&utm_source=partnerize#top", "partnerize",
     {"click_id": "1011lrTyU9"}),
    # CJ: the other click domains, timestamped links, upper-case params, landing appends.
    ("https://www.qksrv.net/click-7012345-10987654?sid=kw", "cj",
     {"publisher_id": "7012345", "creative_id": "10987654", "sub_id": "kw"}),
    ("http://www.ftjcfx.com/click-7012345-13579246-1403695822000", "cj",
     {"publisher_id": "7012345", "creative_id": "13579246"}),
    (f"https://WWW.TQLKG.COM/click-7012345-12121212?SID=kw2&URL={B}", "cj",
     {"publisher_id": "7012345", "creative_id": "12121212", "sub_id": "kw2",
      "landing_url": LANDING}),
    ("https://lduhtrp.net/click-7012345-14141414", "cj",
     {"publisher_id": "7012345", "creative_id": "14141414"}),
    (f"https://www.anrdoezrs.net/links/7012345/type/dlg/{B}", "cj",
     {"publisher_id": "7012345", "landing_url": LANDING}),
    (f"https://www.lumora.com/sale?cjevent={HEX32}&PID=7012345&AID=10987654&SID=kw", "cj",
     {"click_id": HEX32, "publisher_id": "7012345", "creative_id": "10987654", "sub_id": "kw"}),
    (f"https://m.lumora.com/?CJEVENT={HEX32}&utm_source=cj#reviews", "cj", {"click_id": HEX32}),
    # Awin: p= deeplink, pclick (p is a product there), upper case, tidd.ly short links.
    (f"https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345&clickref=kw&p={B}", "awin",
     {"publisher_id": "412345", "advertiser_id": "1001", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.awin1.com/pclick.php?p=33445566&a=412345&m=1001", "awin",
     {"publisher_id": "412345", "advertiser_id": "1001"}),
    ("HTTPS://WWW.AWIN1.COM/CREAD.PHP?AWINMID=1001&AWINAFFID=412345&LINKID=2233&CLICKREF=kw",
     "awin", {"publisher_id": "412345", "advertiser_id": "1001", "creative_id": "2233",
              "sub_id": "kw"}),
    (f"http://awin1.com/cread.php?awinmid=1001&awinaffid=412345&ued={B2}", "awin",
     {"publisher_id": "412345", "advertiser_id": "1001", "landing_url": LANDING}),
    ("https://tidd.ly/3xYzAbC", "awin", {}),
    ("https://www.lumora.com/sale?utm_source=awin&awc=1001_1716200000_3f2a9c1b7e&sv1=affiliate",
     "awin", {"advertiser_id": "1001", "click_id": "1001_1716200000_3f2a9c1b7e"}),
    (f"https://www.awin1.com/cread.php?awinmid=2417&awinaffid=412345"
     f"&ued={quote(RAKUTEN_INNER, safe='')}", "awin",
     {"publisher_id": "412345", "advertiser_id": "2417", "landing_url": RAKUTEN_INNER}),
    # ShareASale: u.cfm, m-pr.cfm product links, landing sscid.
    ("https://www.shareasale.com/u.cfm?d=123&m=47&u=123456&afftrack=kw", "shareasale",
     {"publisher_id": "123456", "advertiser_id": "47", "sub_id": "kw"}),
    ("https://shareasale.com/m-pr.cfm?merchantID=47&userID=123456&productID=998877",
     "shareasale", {"publisher_id": "123456", "advertiser_id": "47", "creative_id": "998877"}),
    ("http://www.lumora.com/?sscid=b1k8_abc12&utm_source=shareasale", "shareasale",
     {"click_id": "b1k8_abc12"}),
    # Impact: every kind of custom domain keeps the /c/{MPID}/{AdID}/{ProgramID} shape.
    (f"https://lumora.evyy.net/c/2210987/654321/4321?subId1=kw&subId2=g&sharedid=coupons&u={B2}",
     "impact", {"publisher_id": "2210987", "creative_id": "654321", "advertiser_id": "4321",
                "sub_id": "kw", "landing_url": LANDING}),
    ("https://lumora.7eer.net/c/2210987/654321/4321", "impact",
     {"publisher_id": "2210987", "creative_id": "654321", "advertiser_id": "4321"}),
    (f"https://imp.i123456.net/c/2210987/654321/4321?u={B}", "impact",
     {"publisher_id": "2210987", "creative_id": "654321", "advertiser_id": "4321",
      "landing_url": LANDING}),
    ("https://try.lumora.com/c/3345678/111111/4321?subId1=kw", "impact",
     {"publisher_id": "3345678", "creative_id": "111111", "advertiser_id": "4321",
      "sub_id": "kw"}),
    ("https://LUMORA.SJV.IO/c/2210987/654321/4321/", "impact",
     {"publisher_id": "2210987", "creative_id": "654321", "advertiser_id": "4321"}),
    ("https://lumora.pxf.io/aB3dE5", "impact", {}),
    ("https://www.lumora.com/?irclickid=WxyZ-1a2b3c4d%3A0&irpid=2210987&iradid=654321&irgwc=1",
     "impact", {"click_id": "WxyZ-1a2b3c4d:0", "publisher_id": "2210987",
                "creative_id": "654321"}),
    ("https://www.lumora.com/?clickid=QwErTy12&irgwc=1&utm_source=impact", "impact",
     {"click_id": "QwErTy12"}),
    # Rakuten: link/offerid, a merchant's linksynergy CNAME, EAIDs with * and /.
    (f"https://click.linksynergy.com/link?id=AbCdEfGh1Jk&offerid=2417.10002345&type=2&murl={B}",
     "rakuten", {"publisher_id": "AbCdEfGh1Jk", "advertiser_id": "2417",
                 "creative_id": "10002345", "landing_url": LANDING}),
    (f"https://linksynergy.lumora.com/deeplink?id=AbCdEfGh1Jk&mid=2417&murl={B2}", "rakuten",
     {"publisher_id": "AbCdEfGh1Jk", "advertiser_id": "2417", "landing_url": LANDING}),
    ("http://click.linksynergy.com/fs-bin/click?id=AbC*dEfGhIj&offerid=2417.55&subid=0&type=4",
     "rakuten", {"publisher_id": "AbC*dEfGhIj", "advertiser_id": "2417", "creative_id": "55",
                 "sub_id": "0"}),
    ("https://www.lumora.com/?ranMID=2417&ranEAID=AbCdEfGh1Jk&ranSiteID=AbCdEfGh1Jk-Qx7Pz9LmN2",
     "rakuten", {"publisher_id": "AbCdEfGh1Jk", "advertiser_id": "2417",
                 "click_id": "AbCdEfGh1Jk-Qx7Pz9LmN2"}),
    ("https://www.lumora.com/?siteID=AbC_dEfGhIj-Xy9&ranSiteID=AbC_dEfGhIj-Xy9", "rakuten",
     {"publisher_id": "AbC/dEfGhIj", "click_id": "AbC_dEfGhIj-Xy9"}),
    # Pepperjam / Ascend: other domains, encoded twice, clickId landings.
    ("https://www.pjtra.com/t/8-12345-678901-234567", "pepperjam",
     {"advertiser_id": "12345", "publisher_id": "678901", "creative_id": "234567"}),
    (f"http://www.pjatr.com/t/8-12345-678901-234567?sid=kw&url={B2}", "pepperjam",
     {"advertiser_id": "12345", "publisher_id": "678901", "creative_id": "234567",
      "sub_id": "kw", "landing_url": LANDING}),
    ("https://www.lumora.com/?clickId=QWERTY123&utm_source=pepperjam", "pepperjam",
     {"click_id": "QWERTY123"}),
    ("https://www.lumora.com/?clickId=4123456789", "pepperjam", {"click_id": "4123456789"}),
    # Tradedoubler: country click hosts, _td_deeplink, the older p(…)a(…) spelling.
    (f"https://clkuk.tradedoubler.com/click?p=123&a=654321&g=999&url={B}", "tradedoubler",
     {"publisher_id": "654321", "advertiser_id": "123", "creative_id": "999",
      "landing_url": LANDING}),
    (f"https://tracker.tradedoubler.com/click?p=123&a=654321&_td_deeplink={B}", "tradedoubler",
     {"publisher_id": "654321", "advertiser_id": "123", "landing_url": LANDING}),
    ("http://clk.tradedoubler.com/click?p(264355)a(2989234)g(22741424)epi(kw)"
     "url(https://www.lumora.com/sale)", "tradedoubler",
     {"publisher_id": "2989234", "advertiser_id": "264355", "creative_id": "22741424",
      "sub_id": "kw", "landing_url": LANDING}),
    ("https://www.lumora.com/?tduid=8f2c61b7a9e0d4f3&utm_source=tradedoubler", "tradedoubler",
     {"click_id": "8f2c61b7a9e0d4f3"}),
    # Webgains.
    ("http://track.webgains.com/click.html?wgcampaignid=1234567&wgprogramid=271234"
     "&wgtarget=https://www.lumora.com/sale", "webgains",
     {"publisher_id": "1234567", "advertiser_id": "271234", "landing_url": LANDING}),
    ("https://www.lumora.com/?source=webgains&siteid=1234567&wgu=1234567_271234_171620_9f3e2a",
     "webgains", {"publisher_id": "1234567", "click_id": "1234567_271234_171620_9f3e2a"}),
    # Admitad: its many tracking domains share the /g/{30-hex}/ shape.
    (f"https://alitems.com/g/1e8d114494b7e165239416525dc3e8/?ulp={B}&subid=kw", "admitad",
     {"publisher_id": "1e8d114494b7e165239416525dc3e8", "sub_id": "kw", "landing_url": LANDING}),
    ("https://lenkmio.com/g/9a03752bb275478cca00463f97455a/?i=5", "admitad",
     {"publisher_id": "9a03752bb275478cca00463f97455a"}),
    (f"https://www.lumora.com/?utm_source=admitad&admitad_uid={HEX32}&tagtag_uid={HEX32}",
     "admitad", {"click_id": HEX32}),
    # FlexOffers.
    (f"https://track.flexlinks.com/a.ashx?foid=1188831.1707657&fobs1=kw&url={B}", "flexoffers",
     {"publisher_id": "1188831", "advertiser_id": "1707657", "sub_id": "kw",
      "landing_url": LANDING}),
    ("http://TRACK.FLEXLINKSPRO.COM/a.ashx?foid=1188831&foc=1&fot=9999&fos=5", "flexoffers",
     {"publisher_id": "1188831"}),
    # Skimlinks and Sovrn re-wrap other networks: the outer aggregator is what matched.
    (f"https://go.skimresources.com/?id=123456X1234567&xs=1&url={quote(AWIN_INNER, safe='')}",
     "skimlinks", {"publisher_id": "123456", "creative_id": "1234567",
                   "landing_url": AWIN_INNER}),
    (f"http://go.redirectingat.com?id=98765X1597531&xcust=kw&sref=https%3A%2F%2Fdeals.example"
     f"&url={B2}", "skimlinks",
     {"publisher_id": "98765", "creative_id": "1597531", "sub_id": "kw",
      "landing_url": LANDING}),
    (f"https://redirect.viglink.com?key={HEX32}&u={B2}&cuid=kw&opt=true", "sovrn",
     {"publisher_id": HEX32, "sub_id": "kw", "landing_url": LANDING}),
    (f"https://redirect.viglink.com/?key=0123abcd&u={quote(CJ_INNER, safe='')}", "sovrn",
     {"publisher_id": "0123abcd", "landing_url": CJ_INNER}),
    # Commission Factory.
    ("https://t.cfjump.com/12345/t/67890?UniqueId=kw", "commissionfactory",
     {"publisher_id": "12345", "advertiser_id": "67890", "sub_id": "kw"}),
    (f"http://T.CFJUMP.COM/12345/b/555?Url={B}", "commissionfactory",
     {"publisher_id": "12345", "creative_id": "555", "landing_url": LANDING}),
    # AvantLink.
    (f"https://classic.avantlink.com/click.php?tt=dl&mi=11707&pw=9649&url={B}", "avantlink",
     {"publisher_id": "9649", "advertiser_id": "11707", "landing_url": LANDING}),
    ("https://www.lumora.com/?avad=192617_f24ceb9c5&utm_source=avantlink", "avantlink",
     {"click_id": "192617_f24ceb9c5"}),
    # Everflow: encoded upper-case ids on the network's own domain.
    ("https://www.trk-lumora.com/4FZK2L/2CTPLQ/?sub1=kw&sub2=g&source_id=ppc", "everflow",
     {"publisher_id": "4FZK2L", "advertiser_id": "2CTPLQ", "sub_id": "kw"}),
    (f"https://www.lumora.com/sale?_ef_transaction_id={HEX32}&oid=12&affid=345", "everflow",
     {"click_id": HEX32, "advertiser_id": "12", "publisher_id": "345"}),
    # TUNE / HasOffers, on go2cloud and on a network's own domain.
    ("http://lumora.go2cloud.org/aff_c?offer_id=45&aff_id=1075&aff_sub=kw&aff_sub2=g&url_id=3",
     "tune", {"publisher_id": "1075", "advertiser_id": "45", "sub_id": "kw"}),
    ("https://trk.lumoranet.com/aff_c?offer_id=45&aff_id=1075&source=ppc", "tune",
     {"publisher_id": "1075", "advertiser_id": "45"}),
    ("https://www.lumora.com/?transaction_id=102f8a3c9d4e5b6a7c8d9e0f1a2b3c&aff_id=1075"
     "&offer_id=45", "tune",
     {"click_id": "102f8a3c9d4e5b6a7c8d9e0f1a2b3c", "publisher_id": "1075",
      "advertiser_id": "45"}),
    # Amazon: short links (network known, ids unknown offline), obidos, upper-case names.
    ("https://amzn.to/3AbCdEf", "amazon", {}),
    ("https://amzn.eu/d/aBcD123", "amazon", {}),
    ("https://www.amazon.de/gp/product/B0ABCDEF12/?tag=lumoradeals-21&linkCode=ll1&ascsubtag=kw",
     "amazon", {"publisher_id": "lumoradeals-21", "sub_id": "kw"}),
    ("http://www.amazon.com/exec/obidos/ASIN/B0ABCDEF12/sleepdeals-20", "amazon",
     {"publisher_id": "sleepdeals-20"}),
    ("https://amazon.co.jp/gp/aw/d/B0ABCDEF12?TAG=sleepjp-22", "amazon",
     {"publisher_id": "sleepjp-22"}),
    # eBay Partner Network.
    ("https://www.ebay.com/itm/123456789012?mkcid=1&mkrid=711-53200-19255-0&siteid=0"
     "&campid=5338222222&customid=kw&toolid=10001&mkevt=1", "ebay",
     {"publisher_id": "5338222222", "advertiser_id": "711-53200-19255-0", "sub_id": "kw"}),
    ("https://m.ebay.co.uk/itm/123?campid=5338333333&mkrid=710-53481-19255-0&mkevt=1", "ebay",
     {"publisher_id": "5338333333", "advertiser_id": "710-53481-19255-0"}),
    ("https://ebay.us/AbC12x", "ebay", {}),
    ("http://rover.ebay.com/rover/1/711-53200-19255-0/1?ff3=4&toolid=10001&campid=5338444444"
     "&customid=kw&mpre=https%3A%2F%2Fwww.ebay.com%2Fitm%2F123", "ebay",
     {"publisher_id": "5338444444", "advertiser_id": "711-53200-19255-0", "sub_id": "kw",
      "landing_url": "https://www.ebay.com/itm/123"}),
    # First-party platforms on the merchant's domain: Refersion, PartnerStack, Tapfiliate, PAP.
    ("https://www.lumora.com/products/pillow?rfsn=7654321.9f8e7d&utm_source=refersion",
     "refersion", {"publisher_id": "7654321", "click_id": "9f8e7d"}),
    ("http://M.LUMORA.COM/?RFSN=1234567.ab12cd#reviews", "refersion",
     {"publisher_id": "1234567", "click_id": "ab12cd"}),
    ("https://www.lumora.com/?rfsn=7654321", "refersion", {"publisher_id": "7654321"}),
    ("https://lumora.grsm.io/xyz9", "partnerstack", {"publisher_id": "xyz9"}),
    ("https://www.lumora.com/?ps_partner_key=jane-doe-123&ps_xid=Xyz9", "partnerstack",
     {"publisher_id": "jane-doe-123", "click_id": "Xyz9"}),
    ("https://www.lumora.com/pricing?gspk=amFuZS1kb2UtMTIz&gsxid=Qw12", "partnerstack",
     {"publisher_id": "jane-doe-123", "click_id": "Qw12"}),
    ("https://www.lumora.com/#tap_a=1234-abc123&tap_s=567890-def456", "tapfiliate",
     {"publisher_id": "1234-abc123", "sub_id": "567890-def456"}),
    ("https://www.lumora.com/pricing?tap_a=1234-abc123", "tapfiliate",
     {"publisher_id": "1234-abc123"}),
    (f"https://www.lumora.com/affiliate/scripts/click.php?a_aid=refid&a_bid=73d672s1&chan=ppc"
     f"&desturl={B}", "postaffiliatepro",
     {"publisher_id": "refid", "creative_id": "73d672s1", "sub_id": "ppc",
      "landing_url": LANDING}),
    ("https://aff.lumora.com/scripts/click.php?ref=refid", "postaffiliatepro",
     {"publisher_id": "refid"}),
    ("https://www.lumora.com/#a_aid=refid&a_bid=11110001", "postaffiliatepro",
     {"publisher_id": "refid", "creative_id": "11110001"}),
    # Button.
    (f"http://R.BTTN.IO/?btn_ref=org-1a2b3c4d5e6f7a8b&btn_url={B2}", "button",
     {"publisher_id": "org-1a2b3c4d5e6f7a8b", "landing_url": LANDING}),
    ("https://www.lumora.com/?btn_ref=srctok-0a1b2c3d4e5f6a7b&utm_source=button", "button",
     {"click_id": "srctok-0a1b2c3d4e5f6a7b"}),
]

def _inner_network(landing_url: object) -> str | None:
    """The network of a row's destination when that destination is itself a network URL."""
    ids = recognise(landing_url) if isinstance(landing_url, str) else None
    return ids.network if ids is not None else None


ID_FIELDS = ("publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id", "landing_url")
# Networks that re-wrap other networks' links: the publisher they name is a sub-affiliate.
AGGREGATORS = {"skimlinks", "sovrn", "admitad"}
# Every network and platform issue 5 names, by canonical name.
ISSUE_NETWORKS = {
    "partnerize", "cj", "awin", "shareasale", "impact", "rakuten", "pepperjam", "tradedoubler",
    "webgains", "admitad", "flexoffers", "skimlinks", "sovrn", "commissionfactory", "avantlink",
    "everflow", "tune", "amazon", "ebay", "refersion", "partnerstack", "tapfiliate",
    "postaffiliatepro", "button",
}


@pytest.mark.parametrize(("url", "network", "expected"), CASES, ids=[c[0][8:60] for c in CASES])
def test_recognises(url: str, network: str, expected: dict[str, object]) -> None:
    ids = recognise(url)
    assert ids is not None, url
    assert ids.network == network
    assert ids.matched_url == url
    for name in ID_FIELDS:
        assert getattr(ids, name) == expected.get(name), name
    assert ids.aggregator == (network in AGGREGATORS)


def test_table_covers_every_network_of_the_issue() -> None:
    rows = Counter(network for _, network, _ in CASES)
    assert len(CASES) >= 100
    assert set(NETWORK_NAMES) >= set(rows)
    assert {name for name in ISSUE_NETWORKS if rows[name] < 3} == set()
    assert len(NESTED) >= 3


NESTED = [
    (url, inner)
    for url, _, expected in CASES
    if (inner := _inner_network(expected.get("landing_url")))
]


@pytest.mark.parametrize(("url", "inner_network"), NESTED)
def test_nested_destinations_are_recognised_in_turn(url: str, inner_network: str) -> None:
    outer = recognise(url)
    assert outer is not None and outer.landing_url is not None
    inner = recognise(outer.landing_url)
    assert inner is not None and inner.network == inner_network


@pytest.mark.parametrize(
    "url",
    [
        "https://www.lumora.com/mattress?utm_source=google&gclid=abc",
        "https://www.amazon.com/dp/B0ABCDEF12",  # no tag: not an affiliate link
        "https://www.ebay.com/itm/123",
        "https://prf.hn/about",
        "https://www.tkqlhce.com/",
        "https://www.lumora.com/c/abc/def/ghi",
        "not a url",
        "",
        # Look-alike hosts: the network's name as a label of someone else's domain.
        "https://www.awin1.com.evil.example/cread.php?awinmid=1001&awinaffid=412345",
        "https://prf.hn.example/click/camref:1100l5xYz",
        "https://www.tkqlhce.com.evil.example/click-7012345-10987654",
        "https://shareasale.com.evil.example/r.cfm?b=1&u=123456&m=47",
        "https://click.linksynergy.com.evil.example/deeplink?id=AbCdEfGh1Jk&mid=2417",
        "https://www.lumora.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=x",
        "https://www.lumora.com/?gclid=EAIaIQobChMI&msclkid=0f1e2d3c",
        # Engine click URLs alone carry no network ids.
        "https://www.googleadservices.com/pagead/aclk?sa=L&ai=DChcSEwi&ae=2&gclid=EAIaIQ"
        "&adurl=https%3A%2F%2Fwww.lumora.com%2F%3Futm_source%3Dgoogle",
        "https://www.bing.com/aclk?ld=e8abc&u=a1aHR0cHM6Ly93d3cubHVtb3JhLmNvbS8&rlid=abc&ntb=1",
        "https://duckduckgo.com/y.js?ad_domain=lumora.com&u3=https%3A%2F%2Fwww.lumora.com%2F",
        "https://r.search.yahoo.com/cbclk2/dWU9QTE/RV=2/RE=17/RO=10/"
        "RU=https%3a%2f%2fwww.lumora.com%2f/RK=2/RS=abc-",
        # Common parameter names that no one network owns.
        "https://www.lumora.com/?clickid=abc123",
        "https://www.lumora.com/?clickref=summer-sale",
        "https://www.lumora.com/?aff_id=1075",
        "https://www.lumora.com/?ref=producthunt",
        "https://www.lumora.com/?transaction_id=abc",
        # Lower-case words in the path are not Everflow's encoded ids.
        "https://www.lumora.com/about/teams/?source_id=newsletter",
        # A look-alike of an Impact host, but without the /c/ shape.
        "https://lumora.pxf.io.evil.example/aB3dE5",
        # ...and with it: a host matches a network on its registered domain only.
        "https://lumora.sjv.io.evil.example/c/2210987/654321/4321",
        "https://lumora.sjv.io.evil.com/c/2210987/654321/4321",
        "https://www.lumora.com.sjv.io.attacker.net/?irclickid=Q1",
        "https://prf.hn.evil.com/click/camref:1100l5xYz",
    ],
)
def test_ignores_plain_urls(url: str) -> None:
    assert recognise(url) is None


def test_aggregators_are_marked() -> None:
    skim = recognise("https://go.skimresources.com/?id=1X2&url=https%3A%2F%2Fa.com")
    assert skim is not None and skim.aggregator
    cj = recognise("https://www.tkqlhce.com/click-1-2")
    assert cj is not None and not cj.aggregator


def test_chain_merges_landing_ids_of_the_same_network() -> None:
    chain = [
        "https://www.dealspotter.com/go/lumora",
        "https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345&ued=https%3A%2F%2Fa.com",
        "https://www.lumora.com/?awc=1001_1403695822_a430&sscid=zz",
    ]
    ids = recognise_chain(chain)
    assert ids is not None
    assert (ids.network, ids.publisher_id, ids.advertiser_id) == ("awin", "412345", "1001")
    assert ids.click_id == "1001_1403695822_a430"
    assert ids.matched_url == chain[1]


def test_chain_keeps_first_click_and_ignores_other_networks_landing() -> None:
    chain = [
        "https://go.skimresources.com/?id=123X9&url=https%3A%2F%2Fwww.lumora.com",
        "https://www.tkqlhce.com/click-7012345-1",
        f"https://www.lumora.com/?cjevent={'b' * 32}",
    ]
    ids = recognise_chain(chain)
    assert ids is not None
    assert (ids.network, ids.publisher_id, ids.click_id) == ("skimlinks", "123", None)


def test_chain_without_click_uses_landing_marker() -> None:
    ids = recognise_chain(["https://www.lumora.com/", "https://www.lumora.com/?irclickid=Q1"])
    assert ids is not None and (ids.network, ids.click_id) == ("impact", "Q1")
    assert recognise_chain(["https://www.lumora.com/"]) is None
    assert recognise_chain([]) is None


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("CJ", "cj"), ("Commission Junction", "cj"), ("LinkShare", "rakuten"),
     ("Impact Radius", "impact"), ("awin", "awin"), ("Ascend", "pepperjam")],
)
def test_canonical_network_names(written: str, canonical: str) -> None:
    assert canonical_network(written) == canonical


# ---- the table as data: networks.yaml validates, and a bad row says where it is ------------

GOOD_TABLE = """\
networks:
  cj: {aliases: [Commission Junction]}
click_urls:
  - network: cj
    hosts: 'www\\.tkqlhce\\.com'
    path: '/click-(?P<publisher_id>\\d+)-(?P<creative_id>\\d+)'
    params: {sub_id: [sid]}
landing_markers:
  - network: cj
    params: {click_id: [cjevent]}
    requires: [cjevent]
"""


def test_shipped_table_validates_and_is_what_recognise_uses() -> None:
    table = load_table()
    assert TABLE_PATH.parent == Path(networks.__file__).parent  # inside the package: in the wheel
    assert tuple(table.networks) == NETWORK_NAMES
    assert set(NETWORK_NAMES) >= ISSUE_NETWORKS
    assert len(PATTERNS) == len(table.click_urls) + len(table.landing_markers)
    assert {row.decode for row in (*table.click_urls, *table.landing_markers)} - {None} <= set(
        DECODERS
    )


def test_a_small_table_parses_and_matches() -> None:
    table = parse_table(GOOD_TABLE)
    assert [p.network for p in compile_table(table)] == ["cj", "cj"]
    assert table.networks["cj"].aliases == ("Commission Junction",)


@pytest.mark.parametrize(
    ("old", "new", "line", "where", "complaint"),
    [
        ("(?P<creative_id>\\d+)'", "(?P<creative_id>\\d+'", 6, "click_urls row 1 (cj): path:",
         "not a regular expression"),
        ("params: {sub_id: [sid]}", "params: {sub_idd: [sid]}", 7,
         "click_urls row 1 (cj): params.sub_idd:", "'publisher_id'"),
        ("    requires: [cjevent]\n", "    requires: [cjevent]\n    decode: nope\n", 12,
         "landing_markers row 1 (cj): decode:", "no decoder named 'nope'; known: "),
        ("  - network: cj\n    hosts", "  - network: awin\n    hosts", 4,
         "click_urls row 1 (awin): network:", "'awin' is not listed under networks:"),
        ("    hosts:", "    hostz:", 5, "click_urls row 1 (cj): hostz:", "Extra inputs"),
        ("    params: {click_id: [cjevent]}\n    requires: [cjevent]\n",
         "    params: {click_id: [cjevent]}\n", 9, "landing_markers row 1 (cj):",
         "would match every URL"),
        ("(?P<publisher_id>", "(?P<publisher>", 4, "click_urls row 1 (cj):",
         "path: group(s) publisher are not id fields"),
        ("    requires: [cjevent]\n", "    requires: [cjevent]\n    split: {field: click_id}\n", 12,
         "landing_markers row 1 (cj): split.at:", "Field required"),
    ],
    ids=["regex", "id-field", "decoder", "network", "typo", "matches-all", "group", "split"],
)
def test_a_bad_row_names_file_line_row_and_field(
    old: str, new: str, line: int, where: str, complaint: str
) -> None:
    assert old in GOOD_TABLE
    with pytest.raises(NetworkTableError) as raised:
        parse_table(GOOD_TABLE.replace(old, new, 1), "networks.yaml")
    message = str(raised.value)
    assert f"networks.yaml, line {line}: {where}" in message, message
    assert complaint in message, message


def test_table_level_mistakes_are_named() -> None:
    unused = GOOD_TABLE.replace("networks:\n", "networks:\n  awin: {}\n")
    with pytest.raises(NetworkTableError, match=r"line 2: networks: awin: no click_urls"):
        parse_table(unused)
    clash = GOOD_TABLE.replace("networks:\n", "networks:\n  awin: {aliases: [C.J.]}\n")
    with pytest.raises(NetworkTableError, match=r"networks: awin: aliases: 'C.J.' already names"):
        parse_table(clash)
    with pytest.raises(NetworkTableError, match="not valid YAML"):
        parse_table("networks: [")
    with pytest.raises(NetworkTableError, match="expected a mapping"):
        parse_table("- a row")
